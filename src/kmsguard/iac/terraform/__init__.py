"""Terraform: HCL modules (`scan`), plan JSON (`plan`) and `.tf.json` files (`tfjson`).

`hcl` parses, `evaluator` / `policy_document` / `references` evaluate expressions,
`functions` holds Terraform's function table, `modules` the module model."""

from kmsguard.iac.terraform.modules import (
    GRANT_RESOURCE,
    MARKER,
    POLICY_RESOURCES,
    SELF_ORG,
    Module,
    ModuleCall,
    ModuleLibrary,
    TfFile,
)
from kmsguard.iac.terraform.references import Evaluator
from kmsguard.iac.terraform.scan import (
    find_callers,
    scan_installed_modules,
    scan_module,
    skipped_module_calls,
)

__all__ = [
    "GRANT_RESOURCE",
    "MARKER",
    "POLICY_RESOURCES",
    "SELF_ORG",
    "Evaluator",
    "Module",
    "ModuleCall",
    "ModuleLibrary",
    "TfFile",
    "find_callers",
    "scan_installed_modules",
    "scan_module",
    "skipped_module_calls",
]
