"""A repair changes only what Quality Clouds needs: an admin's other callback URLs survive, for both app kinds."""

import xml.etree.ElementTree as ET

from bot.provisioning import connected_app, external_client_app
from bot.provisioning.external_client_app import ExistingBundle
from bot.provisioning.settings import DesiredApp

NS = "http://soap.sforce.com/2006/04/metadata"
QC = DesiredApp().callback_url
BOTH = f"https://admin.example.com/cb\n{QC}"


def record(body: str) -> ET.Element:
    return ET.fromstring(f'<records xmlns="{NS}">{body}</records>')


def test_an_external_client_app_repair_keeps_other_callback_urls():
    bundle = ExistingBundle(header=record("<fullName>QualityClouds</fullName><label>QualityClouds</label>"),
                            satellites={"ExtlClntAppGlobalOauthSettings": ("QualityClouds_glbloauth", record(
                                f"<fullName>QualityClouds_glbloauth</fullName><callbackUrl>{BOTH}</callbackUrl>"
                                "<externalClientApplication>QualityClouds</externalClientApplication>"
                                "<isPkceRequired>true</isPkceRequired>"))})
    components = external_client_app.satellite_components(desired=DesiredApp(), run_as="a@b.com", bundle=bundle)
    global_settings = next(c for c in components if c.type_name == "ExtlClntAppGlobalOauthSettings")
    assert f"<callbackUrl>{BOTH}</callbackUrl>".encode() in global_settings.to_xml()
    assert b"<isPkceRequired>false</isPkceRequired>" in global_settings.to_xml()


def test_a_missing_quality_clouds_callback_replaces_the_field():
    bundle = ExistingBundle(header=record("<fullName>QualityClouds</fullName>"),
                            satellites={"ExtlClntAppGlobalOauthSettings": ("QualityClouds_glbloauth", record(
                                "<fullName>QualityClouds_glbloauth</fullName>"
                                "<callbackUrl>https://old.example.com</callbackUrl>"))})
    components = external_client_app.satellite_components(desired=DesiredApp(), run_as="a@b.com", bundle=bundle)
    assert f"<callbackUrl>{QC}</callbackUrl>".encode() in components[1].to_xml()


def test_a_connected_app_repair_keeps_other_callback_urls():
    existing = record(f"<fullName>QualityClouds</fullName><contactEmail>x@y.z</contactEmail><label>QualityClouds"
                      f"</label><oauthConfig><callbackUrl>{BOTH}</callbackUrl><scopes>Api</scopes></oauthConfig>")
    component = connected_app.component(desired=DesiredApp(), run_as="a@b.com", existing=existing)
    assert f"<callbackUrl>{BOTH}</callbackUrl>".encode() in component.to_xml()
