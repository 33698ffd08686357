// The live camera: getUserMedia into a <video>, shown mirrored like a mirror, and snapshots
// cropped to what the guest saw in the frame (so the photo matches the preview).

export const MIRROR = true;

export class CameraError extends Error {
  /** @param {"none"|"denied"} reason */
  constructor(reason, cause) {
    super(`camera ${reason}`);
    this.reason = reason;
    this.cause = cause;
  }
}

export class Camera {
  /** @param {HTMLVideoElement} video */
  constructor(video) {
    this.video = video;
    this.stream = null;
    this.starting = null;
    video.classList.toggle("mirrored", MIRROR);
  }

  get live() {
    return this.stream?.getVideoTracks().some((track) => track.readyState === "live") ?? false;
  }

  /** Start the camera (a no-op when it runs). Rejects with CameraError. */
  start() {
    if (this.live) return Promise.resolve();
    this.starting ??= this.open().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  async open() {
    if (!navigator.mediaDevices?.getUserMedia) throw new CameraError("none");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: "user", width: { ideal: 1920 }, height: { ideal: 1080 } },
      });
    } catch (error) {
      const missing = ["NotFoundError", "OverconstrainedError", "NotReadableError"];
      throw new CameraError(missing.includes(error.name) ? "none" : "denied", error);
    }
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    if (!this.video.videoWidth) {
      await new Promise((resolve) =>
        this.video.addEventListener("loadedmetadata", resolve, { once: true }),
      );
    }
  }

  stop() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  /** A JPEG of the current frame, cropped to the shown aspect ratio (object-fit: cover). */
  snapshot(quality = 0.92) {
    const { videoWidth: vw, videoHeight: vh } = this.video;
    const box = this.video.getBoundingClientRect();
    const aspect = box.width && box.height ? box.width / box.height : vw / vh;
    let sw = vw;
    let sh = vh;
    if (vw / vh > aspect) sw = Math.round(vh * aspect);
    else sh = Math.round(vw / aspect);
    const canvas = document.createElement("canvas");
    canvas.width = sw;
    canvas.height = sh;
    const context = canvas.getContext("2d");
    if (MIRROR) {
      context.translate(sw, 0);
      context.scale(-1, 1);
    }
    context.drawImage(this.video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, sw, sh);
    return new Promise((resolve, reject) =>
      canvas.toBlob(
        (blob) => (blob ? resolve(blob) : reject(new Error("the camera gave no picture"))),
        "image/jpeg",
        quality,
      ),
    );
  }
}
