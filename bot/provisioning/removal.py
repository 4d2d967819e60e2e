"""Deleting the QualityClouds app from an org (`/qc disconnect-org … delete-app`), whichever kind it is.

`deleteMetadata`, one type per call, children first: an External Client App's satellites reference their
header, so the header goes last. A name that is already gone counts as deleted, so a retry after a partial
failure finishes the job.
"""

from __future__ import annotations

from bot.provisioning import connected_app, external_client_app
from bot.provisioning.provisioner import read_bundle
from bot.salesforce.errors import SalesforceError
from bot.salesforce.metadata import MetadataClient


class AppRemover:
    def __init__(self, *, metadata: MetadataClient) -> None:
        self._metadata = metadata

    async def remove(self, *, api_name: str) -> list[str]:
        """Delete every component of the app; return what was deleted as `Type fullName` (empty: none existed).
        Raises `SalesforceError` with Salesforce's words when it refuses a deletion."""
        deleted: list[str] = []
        if (await self._metadata.read(connected_app.TYPE, [api_name])).get(api_name) is not None:
            deleted += await self._delete(connected_app.TYPE, api_name)
        bundle = await read_bundle(self._metadata, api_name=api_name)
        if bundle.header is None:
            return deleted
        for satellite in reversed(external_client_app.SATELLITES):
            if satellite in bundle.satellites:
                deleted += await self._delete(satellite, bundle.satellites[satellite][0])
        deleted += await self._delete(external_client_app.HEADER, api_name)
        return deleted

    async def _delete(self, type_name: str, full_name: str) -> list[str]:
        for result in await self._metadata.delete(type_name, [full_name]):
            if not result.success and not result.already_gone:
                raise SalesforceError(f"{type_name} {full_name}: {result.message or 'could not be deleted'}",
                                      code=result.status_code)
        return [f"{type_name} {full_name}"]
