# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Exchange Online module of this collection shares.

``ExoModule`` is an AnsibleModule with the shared authentication options (documented by
the ``mimecast_mse.sync_engine.exo_auth`` doc fragment), the library checks, the
connection, and one way to fail: a ConfigurationError or an ExoError becomes one
message, anything unexpected becomes a message plus its traceback (``exception``, which
Ansible shows at -vvv, masked like the rest of the result), and every failure carries what the run cost in requests plus whatever the module says
it already did.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    AUTH_ARGUMENT_SPEC,
    AUTH_MUTUALLY_EXCLUSIVE,
    MSAL_IMPORT_ERROR,
    REQUESTS_IMPORT_ERROR,
    AuthError,
    apply_environment,
    check_auth_params,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import (
    DEFAULT_ROLE_HINT,
    ExoError,
    connect,
    explain_error,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

LIBRARY_ERRORS = {"msal": MSAL_IMPORT_ERROR, "requests": REQUESTS_IMPORT_ERROR}


class ExoModule(AnsibleModule):
    """An AnsibleModule that talks to Exchange Online."""

    def __init__(self, argument_spec, mutually_exclusive=None, required_one_of=None, role_hint=DEFAULT_ROLE_HINT, **kwargs):
        spec = dict(AUTH_ARGUMENT_SPEC, debug_log=dict(type="path"))
        spec.update(argument_spec)
        super().__init__(
            argument_spec=spec,
            mutually_exclusive=AUTH_MUTUALLY_EXCLUSIVE + list(mutually_exclusive or []),
            required_one_of=list(required_one_of or []) or None,
            supports_check_mode=True,
            **kwargs
        )
        self.client = None
        # The roles a refused cmdlet's message tells the admin to assign (see explain_error).
        self.role_hint = role_hint
        for library, error in LIBRARY_ERRORS.items():
            if error:
                self.fail_json(msg=missing_required_lib(library), exception=error)
        # The task's credential wins; only without one is the environment's used (see apply_environment).
        try:
            self.no_log_values.update(apply_environment(self.params))
        except AuthError as exc:
            self.fail_json(msg=str(exc))

    def require_library(self, library, error, option):
        """Fail when an optional library that ``option`` needs is missing."""
        if error:
            self.fail_json(msg=missing_required_lib(library, reason="for the option %s" % option), exception=error)

    def connect(self, pool_size=16):
        """Check the auth options and open the client (self.client)."""
        check_auth_params(self.params)
        if not self.params["validate_certs"]:
            self.warn("validate_certs is false: TLS certificates of Entra ID and Exchange Online are not verified, so "
                      "anyone on the network path can read the token. Use ca_path for a private CA instead.")
        self.client = connect(self.params, pool_size=pool_size)
        # Defence in depth: a token in any message or result is masked like a no_log option.
        self.client.on_token = self.no_log_values.add
        return self.client

    def requests_made(self):
        """The ``requests`` part of a result: what the run cost so far."""
        if self.client is None:
            return {}
        return self.client.stats.as_dict(self.client.tokens.renewals)

    def fail_with(self, message, exception=None, **result):
        """fail_json with the request counts; ``result`` says what was already done.

        ``exception`` is a traceback for -vvv; fail_json masks the no_log values (secrets, and
        every token seen, see connect) in it like in the message.
        """
        result.setdefault("requests", self.requests_made())
        if exception:
            result["exception"] = exception
        self.fail_json(msg=message, **result)

    def run_guarded(self, work, partial_result=None):
        """Call ``work()`` and turn every error into one failure message.

        ``partial_result`` is a callable returning what the run already did (counts, the
        mailboxes changed); it is added to the failure so a stopped run still reports it.
        """
        exception = None
        try:
            return work()
        except ConfigurationError as exc:
            message = str(exc)
        except ExoError as exc:
            message = explain_error(exc, self.role_hint)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # A bug or an answer nobody foresaw: say what and where, keep the counts; the
            # traceback is what a maintainer needs, shown at -vvv as for any module.
            message = ("unexpected %s: %s. Nothing further was sent. Please report this with the debug_log file "
                       "of the run and the -vvv output." % (exc.__class__.__name__, exc))
            exception = traceback.format_exc()
        extra = partial_result() if partial_result else {}
        if extra.get("msg"):
            message = "%s (%s)" % (message, extra.pop("msg"))
        self.fail_with(message, exception=exception, **extra)
        return None  # not reached: fail_json exits
