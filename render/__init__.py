"""Rendering: model provisioning, person cut-out, scene composition and style transfer.

A library: it imports nothing from ``kiosk/``. One guest's painting is two calls:

    prepared = pipeline.prepare(photo, scene, size, model_dir=..., cutout=..., compose=...)
    painting = stylize.StyleEngine(model_dir).stylize(prepared.composite, style, hq=...)

- ``options``: the typed, validated knobs of each step (``CutoutOptions``, ``ComposeOptions``,
  ``GatysOptions``) and ``OptionError``; ``progress``: ``StyleProgress``. Both torch-free.
- ``images``: loading untrusted images, fitting sizes; ``styles``, ``scenes``: the catalogues.
- ``pipeline``: ``prepare`` = ``cutout`` (with ``segment``) then ``compose``.
- ``stylize``: ``StyleEngine``, fast (``fast``) or HQ (``gatys``: the coarse-to-fine optimiser,
  ``objective`` its loss from ``losses``, ``grams`` the style-target cache, ``tensors``,
  ``color``, ``vgg``, ``device``).
- ``models``: fetching and checking the model files; ``errors``: ``StyleBoothError``.
"""
