"""Bodies and headers of the answers that are not a cmdlet's result: throttling, transient
server exceptions, RBAC refusals, routing errors, @adminapi.errors, broken bodies.
Each shape names its source in README.md ("assumption" where none exists)."""
from __future__ import annotations

from .cmdlets import CmdletError

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
# GreyCorbel/ExoHelper retries on text that starts like this, whatever the status.
CONCURRENCY_TEXT = "You have reached the maximum number of concurrent requests per tenant. Please wait and try again."
DC = "NAMPR01A001DC001.NAMPR01A001.PROD.OUTLOOK.COM"
# The v3 module's retry list (Get-WaitTimeForRetry) names these; namespaces and texts are assumptions.
TRANSIENT = {
    "DCOverloadedException": ("Microsoft.Exchange.Data.Directory.DCOverloadedException",
                              "The domain controller %s is overloaded. Try again later." % DC),
    "SuitabilityDirectoryException": ("Microsoft.Exchange.Data.Directory.SuitabilityDirectoryException",
                                      "The domain controller %s is not suitable right now: it is not responding." % DC),
    "ServerInMMException": ("Microsoft.Exchange.Data.Directory.ServerInMMException",
                            "The server NAMPR01MB1234 is in maintenance mode. Try again later."),
    "ADServerSettingsChangedException": ("Microsoft.Exchange.Data.Directory.ADServerSettingsChangedException",
                                         "The directory server settings changed while the command ran. Run it again."),
    "StorageTransientException": ("Microsoft.Exchange.Data.Storage.StorageTransientException",
                                  "Cannot open mailbox. The server is busy; try again later."),
}
STATUS_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests",
                500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
# The live "no role" 403: NUL bytes although the answer says gzip (research notes, live notes Sept 2026).
NUL_BODY = b"\x00" * 16
MAINTENANCE_HTML = ("<!DOCTYPE html>\r\n<html><head><title>Service Unavailable</title></head><body>"
                    "<h1>We'll be back soon</h1><p>Outlook is down for maintenance. Please try again later.</p>"
                    "<p>X-FEServer: DM6PR01CA0001</p></body></html>\r\n")


def throttled_body(write, retry_after):
    """The JSON body of a 429 for one cmdlet call (assumption: the Exchange error shape)."""
    text = "The request was throttled: the tenant's budget for %s cmdlets is exhausted. Retry after %s seconds." % (
        "write" if write else "read", retry_after)
    return {"error": {"code": "TooManyRequests", "message": text, "details": [
        {"code": "ExF6E2B3", "target": "", "message": "ExF6E2B3|Microsoft.Exchange.Admin.OData.Core.ThrottlingException|"
                                                      + text}]}}


def exception_class_and_text(exception, message=None):
    """(full class name, text) for a short name from TRANSIENT or any full class name."""
    full, text = TRANSIENT.get(exception, (exception, "A transient server error occurred; try again later."))
    return full, message or text


def transient_body(status, exception, message=None):
    """The JSON body of an injected error status carrying a server exception."""
    full, text = exception_class_and_text(exception, message)
    detail = "Ex9F3A8D|%s|%s" % (full, text)
    return {"error": {"code": STATUS_CODES.get(status, "Error"), "message": "Error executing cmdlet",
                      "details": [{"code": "Ex9F3A8D", "target": "", "message": detail}],
                      "innererror": {"message": detail, "type": full, "stacktrace": ""}}}


def forbidden_headers(reason, direct):
    """Headers of a 403: the reason in x-ms-diagnostics; direct answers carry gzip over NUL bytes."""
    headers = {"x-ms-diagnostics": '2000003;reason="%s";error_category="insufficient_auth_policy"' % reason}
    if direct:
        headers.update({"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"})
    return headers


def not_allowed(cmdlet, base_url):
    """401 for a role that may not run a cmdlet (office-docs-powershell #7970 body; headers an assumption)."""
    text = "User is not allowed to call %s" % cmdlet
    body = {"error": {"code": "Unauthorized", "message": text,
                      "innererror": {"message": text, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}}
    reason = "%s; the application's role assignment does not include this cmdlet" % text
    headers = {"WWW-Authenticate": 'Bearer authorization_uri="%s/common/oauth2/authorize"' % base_url,
               "x-ms-diagnostics": '2000005;reason="%s";error_category="insufficient_role"' % reason}
    return headers, body


def anchor_error(anchor, reason):
    """400 for an X-AnchorMailbox the service cannot route (shape: assumption)."""
    text = ("The routing hint %r in the X-AnchorMailbox header can't be used: %s. Send "
            "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<tenant GUID or initial domain> or "
            "UPN:<UPN of a mailbox in this organization>." % (anchor or "", reason))
    return CmdletError(400, "BadRequest", "ExC2D4E6", "Microsoft.Exchange.HttpProxy.AnchorMailboxNotFoundException", text,
                       headers={"x-ms-diagnostics": '2000010;reason="%s";error_category="invalid_routing_hint"' % reason})


def routing_error(status=400):
    """A mailbox cmdlet answered on the wrong backend (text: CIPP issue #4877; status: assumption)."""
    return CmdletError(status, STATUS_CODES.get(status, "Error"), "",
                       "Microsoft.Exchange.Configuration.Tasks.CmdletProxyNotAvailableException",
                       "Cmdlet needs proxy. Current Server FQDN : DS2PR07MB11352.namprd07.prod.outlook.com, Required "
                       "Server FQDN : MW4PR15MB4394.namprd15.prod.outlook.com")


def json_error_200():
    """A JSON error object served with status 200 (hostile-network fault)."""
    return {"error": {"code": "InternalServerError", "message": "An internal server error occurred. The operation failed.",
                      "innererror": {"message": "Object reference not set to an instance of an object.",
                                     "type": "System.NullReferenceException"}}}
