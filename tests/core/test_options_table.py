"""Each option is documented once (sppo/options.py); README's options table is generated from it."""

from __future__ import annotations

from sppo import options
from sppo.options_table import BEGIN, END, field_docs, rows, table
from tests.conftest import REPO


def test_readme_carries_the_generated_table():
    text = (REPO / "README.md").read_text()
    assert BEGIN in text and END in text
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == table(), "README's options table is stale: paste `python -m sppo.options_table` over it"


def test_every_option_field_has_a_docstring_and_appears_once():
    keys = [key for cls in (options.AdvantageOptions, options.TrainerOptions) for key, _, _ in rows(cls)]
    assert len(keys) == len(set(keys))
    assert "algorithm.sppo.advantage" in keys and "sppo.prompt_selection.band" in keys
    for cls in (options.AdvantageOptions, options.PromptSelectionOptions, options.TrainerOptions):
        import dataclasses

        missing = {f.name for f in dataclasses.fields(cls)} - set(field_docs(cls))
        assert not missing, f"{cls.__name__}: fields without a docstring: {sorted(missing)}"


def test_defaults_are_rendered_as_in_yaml():
    (row,) = [r for r in rows(options.TrainerOptions) if r[0] == "sppo.prompt_selection.band"]
    assert row[1] == "`[0.2, 0.8]`"
    (row,) = [r for r in rows(options.AdvantageOptions) if r[0] == "algorithm.sppo.whiten"]
    assert row[1] == "`false`"
