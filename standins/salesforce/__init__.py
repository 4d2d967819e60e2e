"""A faithful fake Salesforce for tests and the local demo: real HTTP on loopback.

It serves OAuth 2.0 (web server flow with PKCE, refresh, client credentials, revoke, introspect,
identity), the REST API (a small SOQL subset, Connect REST OAuth credential resources, the
``PermissionSetAssignment`` sObject) and the SOAP Metadata API (deploy/checkDeployStatus/readMetadata/
listMetadata) for ConnectedApp and External Client App metadata, ``PermissionSet`` and the
``ExternalClientApp`` settings, and refuses what Salesforce would refuse.  See ``server.FakeSalesforce`` and
``org.FakeOrg`` for the switches, and each module's docstring for the choices made where
Salesforce's behaviour is unconfirmed.
"""

from .clock import ManualClock
from .metadata_rules import DeployRecord
from .org import ADMIN_PERMISSIONS, FakeOrg, FakeUser, OauthTokenRow, RegisteredClient
from .schema import find_wsdl, load_schema
from .server import FakeSalesforce, Hold, RequestRecord
from .tokens import RefreshPolicy

__all__ = [
    "ADMIN_PERMISSIONS",
    "DeployRecord",
    "FakeOrg",
    "FakeSalesforce",
    "FakeUser",
    "Hold",
    "ManualClock",
    "OauthTokenRow",
    "RefreshPolicy",
    "RegisteredClient",
    "RequestRecord",
    "find_wsdl",
    "load_schema",
]
