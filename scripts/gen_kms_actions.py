"""Regenerate `src/kmsguard/policy/kms_actions.json` from botocore's KMS service model.

Every operation botocore lists is recorded with the IAM actions it needs on a key (none for
account-level operations such as CreateKey or ListKeys). Classification (danger tier, whether
KMS accepts the action from another account) is kept from the existing file; an operation
that is new to the file is written with tier `unclassified` and the script exits 1, naming
it, until someone classifies it by hand (SPEC-exposure.md "Severity").

Run: .venv/bin/python scripts/gen_kms_actions.py   (after upgrading botocore)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import botocore
import botocore.session

DATA = Path(__file__).resolve().parents[1] / "src/kmsguard/policy/kms_actions.json"

#: API operations whose IAM permission is not named like the operation
_IAM_NAMES = {"ReEncrypt": ["ReEncryptFrom", "ReEncryptTo"]}


def main() -> int:
    model = botocore.session.get_session().get_service_model("kms")
    data = json.loads(DATA.read_text())
    operations: dict[str, list[str]] = data["operations"]
    actions: dict[str, dict[str, object]] = data["actions"]
    new: list[str] = []
    for op in sorted(model.operation_names):
        if op in operations:
            continue
        new.append(op)
        operations[op] = _IAM_NAMES.get(op, [op])
        for a in operations[op]:
            actions.setdefault(a, {"tier": "unclassified", "cross_account": False})
    data["botocore"] = botocore.__version__
    data["operations"] = dict(sorted(operations.items()))
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    if new:
        print("classify by hand in", DATA, "(tier, cross_account; [] for no key resource):")
        for op in new:
            print("  ", op)
        return 1
    print(f"{len(operations)} KMS operations, all classified (botocore {botocore.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
