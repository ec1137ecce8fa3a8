# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error a module reports as it is: a problem a person has to fix.

Every module_utils file raises a subclass of ConfigurationError (AuthError,
SelectionError, StateFileError, ...) whose message names the problem and the fix;
ExoModule turns it into fail_json without a traceback. Errors answered by Exchange
Online itself are ExoError (exo_client), explained by exo_client.explain_error.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """Something the user must change; the message says what and how."""
