"""The Metadata API WSDL (`../shared/salesforce/metadata-v63.wsdl`) as a pytest fixture; tests that need it skip
with a clear reason where it is absent (it is never copied into this repository)."""

from __future__ import annotations

import pytest

from standins.salesforce.schema import WsdlSchema, find_wsdl, load_schema


@pytest.fixture(scope="session")
def wsdl() -> WsdlSchema:
    schema = load_schema(find_wsdl())
    if schema is None:
        pytest.skip("../shared/salesforce/metadata-v63.wsdl (or lxml) is not available here")
    return schema
