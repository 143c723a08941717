"""The package stays light: importing it pulls in no torch or transformers."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import sys, green_chain, green_chain.energy, green_chain.callbacks, green_chain.events, "
        "green_chain.tokens, green_chain.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'pandas', "
        "'matplotlib') if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_help_lists_commands(capsys) -> None:
    from green_chain.cli import main

    assert main([]) == 2
    assert "green-chain" in capsys.readouterr().out
