# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication and connection options for modules that call Exchange Online."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation of AUTH_ARGUMENT_SPEC in module_utils/exo_auth.py."""

    DOCUMENTATION = r'''
options:
  tenant:
    description:
      - The Microsoft Entra tenant, as its GUID or its V(name.onmicrosoft.com) domain.
      - If not set, the E(AZURE_TENANT) environment variable is used (AWX/AAP's Azure credential sets it).
    type: str
    required: true
  client_id:
    description:
      - Application (client) ID of the app registration that holds C(Exchange.ManageAsApp).
      - Required with O(client_secret) or O(certificate_path).
      - If not set, the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - A client secret of the app registration.
      - If not set, the E(AZURE_SECRET) environment variable is used.
      - Exactly one of O(client_secret), O(certificate_path) and O(access_token) is needed.
    type: str
  certificate_path:
    description:
      - Certificate of the app registration with its private key, for a signed client assertion.
      - A PEM file holding both the private key and the certificate, or a C(.pfx)/C(.p12) file.
      - If not set, the E(AZURE_CERTIFICATE_PATH) environment variable is used.
    type: path
  certificate_password:
    description:
      - Password of the private key in O(certificate_path), if it is encrypted.
      - If not set, the E(AZURE_CERTIFICATE_PASSWORD) environment variable is used.
    type: str
  access_token:
    description:
      - An access token for the Exchange Online resource obtained elsewhere.
      - It cannot be renewed, so a run that outlives it fails; prefer O(client_secret) or O(certificate_path).
    type: str
  cloud:
    description:
      - The Microsoft cloud of the tenant; picks the Entra ID and Exchange Online endpoints.
      - V(commercial) also serves GCC tenants. V(china) is the 21Vianet cloud.
    type: str
    default: commercial
    choices: [commercial, gcc_high, dod, china]
  login_url:
    description:
      - Entra ID authority host to use instead of the one O(cloud) implies, for example V(https://login.microsoftonline.com).
      - MSAL's instance discovery is skipped for it.
    type: str
  exchange_url:
    description:
      - Exchange Online base URL to use instead of the one O(cloud) implies, for example V(https://outlook.office365.com).
      - The token is requested for the scope O(exchange_url) followed by C(/.default).
    type: str
  validate_certs:
    description:
      - Verify TLS certificates of Entra ID and Exchange Online. Only switch off for testing.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of CA certificates to trust instead of the system store, for example behind a TLS-inspecting proxy.
      - Used on every request, so it wins over E(REQUESTS_CA_BUNDLE).
    type: path
  timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: int
    default: 60
notes:
  - The app registration needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online with
    admin consent, and an Entra role on its service principal such as C(Exchange Recipient Administrator).
  - Secrets are never returned or logged; they are marked C(no_log).
requirements:
  - msal >= 1.29.0 (brings requests)
'''
