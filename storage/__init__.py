"""Where bytes live: one store interface, a local-folder and an S3 backend, keys, catalog, settings.

Imports neither Ray, Streamlit nor torch; boto3 loads only when an S3 store is opened.
"""
