"""JUnit XML for CI: one test case per gate (a failed gate is a failure, an inconclusive one
is an error, so CI shows both but tells them apart)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def junit_xml(summary: dict[str, Any]) -> str:
    gates: list[dict[str, Any]] = summary.get("gates", [])
    failures = sum(g["verdict"] == "fail" for g in gates)
    errors = sum(g["verdict"] == "inconclusive" for g in gates)
    suite = ET.Element(
        "testsuite",
        name=f"wastecoach.{summary['scenario']['name']}",
        tests=str(len(gates)),
        failures=str(failures),
        errors=str(errors),
        time=f"{summary.get('duration_seconds', 0):.3f}",
        timestamp=str(summary.get("started_at", "")),
    )
    for gate in gates:
        case = ET.SubElement(
            suite, "testcase", classname=f"gates.{summary['scenario']['name']}", name=gate["name"]
        )
        text = f"{gate['threshold']}: observed {gate['observed_text']} ({gate['message']})"
        if gate["verdict"] == "fail":
            ET.SubElement(case, "failure", message=text, type="GateFailed").text = text
        elif gate["verdict"] == "inconclusive":
            ET.SubElement(case, "error", message=text, type="Inconclusive").text = text
        ET.SubElement(case, "system-out").text = text
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def write_junit(summary: dict[str, Any], path: Path) -> Path:
    path.write_text(junit_xml(summary), encoding="utf-8")
    return path
