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
      - The Microsoft Entra tenant, as its tenant ID (a GUID) or one of its domain names such as V(contoso.onmicrosoft.com).
      - Anything else is refused before a request is sent.
      - If not set in the task, the E(AZURE_TENANT) environment variable is used (AWX/AAP's Azure credential sets
        it), else E(AZURE_TENANT_ID) (the name azure-identity and the Azure CLI use).
    type: str
    required: true
  client_id:
    description:
      - Application (client) ID of the app registration that holds C(Exchange.ManageAsApp).
      - Required with O(client_secret) or O(certificate_path); not used with O(managed_identity) or O(access_token).
      - If not set in the task, the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - A client secret of the app registration.
      - Exactly one of O(client_secret), O(certificate_path), O(access_token) and O(managed_identity) is needed.
      - When the task sets none of those four, the E(AZURE_SECRET) environment variable is used (AWX/AAP), else
        E(AZURE_CLIENT_SECRET) (azure-identity), else the certificate variables of O(certificate_path). A credential
        given in the task always wins over the environment, so a task with O(certificate_path) or O(managed_identity)
        works on a machine or AWX job where E(AZURE_SECRET) is set.
    type: str
    aliases: [secret]
  certificate_path:
    description:
      - Certificate of the app registration with its private key, for a signed client assertion.
      - A PEM file holding both the private key and the certificate, or a C(.pfx)/C(.p12) file.
      - An encrypted private key needs O(certificate_password); a wrong or missing password is reported before any request.
      - When the task sets no credential and there is no client secret in the environment, the
        E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used (azure-identity), else E(AZURE_CERTIFICATE_PATH)
        (the older name, still read).
    type: path
  certificate_password:
    description:
      - Password of the private key in O(certificate_path), if it is encrypted.
      - If not set, the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used (azure-identity), else
        E(AZURE_CERTIFICATE_PASSWORD) (the older name, still read).
      - Ignored when the key is not encrypted.
    type: str
  access_token:
    description:
      - An access token for the Exchange Online resource obtained elsewhere.
      - It cannot be renewed, so a run that outlives it fails; prefer O(client_secret) or O(certificate_path).
      - Its tenant is read from its C(tid) claim; if it has none, O(tenant) must be the tenant ID (a GUID).
    type: str
  managed_identity:
    description:
      - Authenticate as an Azure managed identity of the control node (or of the AWX/AAP execution node) instead of an
        app registration, for example on an Azure VM, in Azure App Service, Container Apps or Functions, or on an
        Azure Arc-enabled server.
      - V(system) uses the system-assigned identity; the client ID (a GUID) of a user-assigned identity uses that one.
      - MSAL finds the identity endpoint of the platform itself (E(IDENTITY_ENDPOINT) and E(IDENTITY_HEADER) in App
        Service, the instance metadata service on a VM); O(validate_certs) and O(ca_path) apply to it.
      - The identity's service principal needs the same C(Exchange.ManageAsApp) permission and Exchange role as an app
        registration.
    type: str
  cloud:
    description:
      - The Microsoft cloud of the tenant; picks the Entra ID and Exchange Online endpoints.
      - V(commercial) also serves GCC tenants. V(china) is the 21Vianet cloud.
      - If not set, the E(AZURE_CLOUD_ENVIRONMENT) environment variable is used (AWX/AAP's Azure credential sets it).
        C(AzureCloud) is V(commercial), C(AzureUSGovernment) is V(gcc_high) (a DoD tenant sets V(dod) here) and
        C(AzureChinaCloud) is V(china). Without either, V(commercial).
    type: str
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
      - Used on every request, so it wins over E(REQUESTS_CA_BUNDLE). A TLS failure names the host and what to fix.
    type: path
  timeout:
    description:
      - Seconds to wait for one whole HTTP answer (connection, headers and body), between V(1) and V(3600).
      - Getting a token is tried up to four times when Entra ID does not answer, answers C(429) or C(5xx), or answers with
        something other than JSON; other errors fail at once.
    type: int
    default: 60
notes:
  - The app registration needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online with
    admin consent, and an Entra role on its service principal such as C(Exchange Recipient Administrator).
  - Secrets are never returned or logged; they are marked C(no_log), and error messages never contain them.
  - Redirects are never followed when getting a token, and the token endpoint must be on the login host, so
    credentials only ever go to Entra ID.
requirements:
  - msal >= 1.29.0
  - requests >= 2.25.0
  - urllib3 >= 1.26.0
  - cryptography >= 3.1
'''
