#!/usr/bin/env bash
# o365_mailbox_fullaccess must not print a credential, even at -vvv. Run it with a client
# secret (and diff), a wrong secret, a PFX certificate and a given access token (valid, then
# revoked), capture everything ansible-playbook prints, and let check_output.yml look for
# the client secret, the PFX password and any JWT (eyJ...) in it.
set -eu
# setup_exo_emulator is a sibling target (aliases: needs/target/setup_exo_emulator)
export ANSIBLE_ROLES_PATH=..
export ANSIBLE_NOCOLOR=1
log="${OUTPUT_DIR}/vvv.log"
if ! ansible-playbook run_with_secrets.yml -i "${INVENTORY_PATH}" -e "output_dir=${OUTPUT_DIR}" -vvv > "${log}" 2>&1; then
    tail -n 100 "${log}"
    exit 1
fi
ansible-playbook check_output.yml -i "${INVENTORY_PATH}" -e "output_dir=${OUTPUT_DIR}" -e "vvv_log=${log}" "$@"
