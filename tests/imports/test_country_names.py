"""The import's country names (``leadflow.imports.country_names``) are phonenumbers' own, kept
small: the table equals what the installed phonenumbers' locale data gives, an import reads
names in six languages and what people write, and reading them costs the process no locale
data (which takes it well over 100 MB, for good)."""

from __future__ import annotations

import json
import subprocess
import sys

from leadflow.imports.country_names import NAMES_BY_CODE
from leadflow.imports.mapping import normalise_header
from leadflow.imports.rows import COUNTRIES

# Run apart, so this test process does not hold the locale data either.
FROM_LOCALE_DATA = """
import json
from phonenumbers.geodata.locale import LOCALE_DATA
from leadflow.imports.mapping import normalise_header

names = {}
for code, by_language in LOCALE_DATA.items():
    if len(code) != 2:
        continue
    for language in ("aa", "de", "fr", "es", "it", "nl"):  # "aa": phonenumbers' English
        name = by_language.get(language)
        if name and not name.startswith("*"):
            names.setdefault(normalise_header(name), code)
by_code = {}
for name, code in names.items():
    by_code.setdefault(code, []).append(name)
print(json.dumps({code: " ".join(by_code[code]) for code in sorted(by_code)}))
"""


def test_the_kept_names_are_the_installed_phonenumbers_names():
    fresh = json.loads(subprocess.run([sys.executable, "-c", FROM_LOCALE_DATA], check=True,
                                      capture_output=True, text=True).stdout)
    assert NAMES_BY_CODE == fresh, (
        "phonenumbers' country names changed: put these in leadflow/imports/country_names.py\n"
        + "\n".join(f'    "{code}": "{names}",' for code, names in fresh.items()))


def test_an_import_reads_country_names_in_six_languages_and_as_people_write_them():
    for written, code in (("Germany", "DE"), ("Deutschland", "DE"), ("Allemagne", "DE"), ("Alemania", "DE"),
                          ("Germania", "DE"), ("Duitsland", "DE"), ("United States", "US"), ("U.S.", "US"),
                          ("UK", "GB"), ("Holland", "NL"), ("Côte d’Ivoire", "CI"), ("South Korea", "KR")):
        assert COUNTRIES.get(normalise_header(written)) == code, written


def test_reading_country_names_loads_no_locale_data():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, leadflow.imports.rows as rows; rows.COUNTRIES['germany'];"
                               "print('phonenumbers.geodata.locale' in sys.modules)"],
        check=True, capture_output=True, text=True).stdout.strip()
    assert loaded == "False"
