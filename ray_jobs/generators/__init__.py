"""Image-to-3D generators: a registry of them by name, plus mesh export, thumbnails and quality figures.

Nothing here imports torch at import time; a generator loads it when it runs.
"""
