"""The contract checker itself rejects what the real modules would reject."""
from __future__ import annotations

import pytest

from module_contract import ContractError, check_call  # pylint: disable=import-error


def test_accepts_a_documented_call():
    check_call("ansible.windows.win_service", {"name": "msesrv", "username": ".\\svc", "password": "x",
                                               "update_password": "always", "state": "restarted"})


@pytest.mark.parametrize("args, problem", [
    ({"name": "msesrv", "user": "x"}, "no option 'user'"),
    ({"name": "msesrv", "desktop_interact": "yes"}, "must be bool"),
    ({"name": "msesrv", "state": "running"}, "must be one of"),
    ({"name": "msesrv", "update_password": "on_change"}, "must be one of"),
])
def test_rejects_wrong_name_type_and_choice(args, problem):
    with pytest.raises(ContractError, match=problem):
        check_call("ansible.windows.win_service", args)


def test_rejects_a_missing_required_option():
    with pytest.raises(ContractError, match="needs option 'users'"):
        check_call("ansible.windows.win_user_right", {"name": "SeServiceLogonRight"})
