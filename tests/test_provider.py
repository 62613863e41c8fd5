"""The installed package registers the "saleslayer" connection type and its form fields with
Airflow, through the apache_airflow_provider entry point (what the UI's connection form uses)."""

from __future__ import annotations

import warnings


def test_airflow_knows_the_saleslayer_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "saleslayer-airflow" in manager.providers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ProvidersManager.hooks is deprecated in favour of SDK
        hook = manager.hooks["saleslayer"]
    assert hook is not None
    assert hook.hook_class_name == "saleslayer_airflow.saleslayer.hook.SalesLayerHook"
    assert hook.connection_testable
    fields = set(manager.connection_form_widgets)
    assert {
        "extra__saleslayer__rest_url",
        "extra__saleslayer__api_key",
        "extra__saleslayer__timeout",
    } <= fields
    behaviour = manager.field_behaviours["saleslayer"]
    assert behaviour["relabeling"]["password"] == "Private key"
