"""Every SOAP request the bot sends during real journeys validates against the Metadata WSDL."""

import pytest

from tests.support.wsdl import wsdl  # noqa: F401  (fixture)

pytestmark = [pytest.mark.wsdl, pytest.mark.sqlite_only(reason="the shape of SOAP messages, which no database changes")]


async def test_every_soap_request_of_a_create_and_a_repair_validates(stack, wsdl):  # noqa: F811
    await stack.connect()
    await stack.status_message()
    stack.org.seed_connected_app("Other", label="Other", contact_email="x@example.com")
    await stack.connect()
    await stack.status_message(count=2)
    soap = [record for record in stack.salesforce.requests if record.path.startswith("/services/Soap/m/")]
    operations = {record.operation for record in soap}
    assert {"deploy", "checkDeployStatus", "readMetadata"} <= operations
    for record in soap:
        assert wsdl.check_body(record.request_body) == [], record.operation
    assert all(record.path == "/services/Soap/m/63.0" for record in soap), "the API version is pinned"
