"""Rendering: model provisioning, person cut-out, scene composition and style transfer."""
