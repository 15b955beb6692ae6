"""Airflow plugins of the provider (loaded by the API server through provider info)."""
