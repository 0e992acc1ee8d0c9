"""Hiccup crash and stability statistics, computed by Apache Airflow."""
