"""JUnit XML for CI dashboards: one test case per judged key policy. Exposures at or above
the threshold fail, policies that could not be judged are errors, suppressed ones skip."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from kmsguard import rules
from kmsguard.model import Finding, Severity, Verdict
from kmsguard.report.escape import xml_text


def _name(f: Finding) -> str:
    loc = f.origin.source if f.origin.line is None else f"{f.origin.source}:{f.origin.line}"
    return f"{f.origin.resource} ({loc})" if f.origin.resource else loc


def _details(f: Finding) -> str:
    a = f.assessment
    lines = [f"verdict: {a.verdict}", f"severity: {a.severity}"]
    for e in a.exposures:
        lines.append(
            f"exposed to {', '.join(e.principals)}: {', '.join(e.actions)}"
            + (f" (statements {', '.join(e.statements)})" if e.statements else "")
        )
        if e.witness is not None:
            lines.append(f"witness: {e.witness.describe()}")
    lines.extend(f"error: {err}" for err in a.errors)
    lines.extend(f"note: {n}" for n in a.notes)
    lines.extend(f"{k}: {v}" for k, v in f.extra)
    if f.rule_id:
        lines.append(f"fix: {rules.rule(f.rule_id).remediation}")
    return xml_text("\n".join(lines))


def render_junit(findings: Sequence[Finding], *, fail_on: Severity = Severity.INFO) -> str:
    suite = ET.Element("testsuite", name="kmsguard")
    failures = errors = skipped = 0
    for f in findings:
        source = xml_text(f.origin.source)
        case = ET.SubElement(
            suite, "testcase", classname=source, name=xml_text(_name(f)), file=source
        )
        if f.origin.line is not None:
            case.set("line", str(f.origin.line))
        title = rules.rule(f.rule_id).title if f.rule_id else ""
        if f.suppressed is not None and f.rule_id is not None:
            ET.SubElement(case, "skipped", message=xml_text(f"suppressed: {f.suppressed}"))
            skipped += 1
        elif f.verdict in (Verdict.ERROR, Verdict.UNRESOLVED):
            el = ET.SubElement(case, "error", message=f"{f.rule_id}: {title}", type=str(f.verdict))
            el.text = _details(f)
            errors += 1
        elif (
            f.rule_id is not None
            and f.severity.at_least(fail_on)
            and (f.severity is not Severity.NONE)
        ):
            el = ET.SubElement(
                case, "failure", message=f"{f.rule_id}: {title}", type=str(f.severity)
            )
            el.text = _details(f)
            failures += 1
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _details(f)
    suite.set("tests", str(len(findings)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name="kmsguard")
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, suite.get(attr, "0"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
