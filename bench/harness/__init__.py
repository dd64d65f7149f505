"""Helpers shared by the benchmarks and the tests (the tests import them from here, never the
other way round): no pytest in this package.

- ``bench.harness.browser``: `streamlit run` of the dashboard on loopback, a headless Chromium
  with the network cut off at everything but 127.0.0.1, and the check that the 3D preview's
  canvas is painted.
- ``bench.harness.scenes``: object images drawn in code, a small textured sphere, and a real
  asset published straight into a store.
"""
