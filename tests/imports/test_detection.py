"""Reading uploaded files: encoding, delimiter and header are detected, and can be corrected."""

from __future__ import annotations

import pytest

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.imports import services

ROWS = "First Name;Last Name;Email\nJosé;Müller;jose@example.com\nRenée;Ørsted;renee@example.com\n"


@pytest.mark.parametrize("data, encoding", [
    (ROWS.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + ROWS.encode("utf-8"), "utf-8-sig"),
    (ROWS.replace("Ø", "O").encode("cp1252"), "cp1252"),
    (ROWS.replace("Ø", "O").encode("latin-1") + b"Zo\x81;x;z@example.com\n", "latin-1"),
])
def test_encoding_is_detected(new_job, data, encoding):
    job = new_job(data)
    assert job.encoding == encoding
    assert job.columns == ["First Name", "Last Name", "Email"]  # no BOM left on the first name


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(new_job, delimiter):
    text = "\n".join(delimiter.join(row) for row in (
        ("Name", "Email", "Company"), ("Ada Lovelace", "ada@example.com", "Engines, Ltd"),
        ("Alan Turing", "alan@example.com", "Bletchley"))) + "\n"
    if delimiter == ",":
        text = text.replace("Engines, Ltd", '"Engines, Ltd"')
    job = new_job(text)
    assert job.delimiter == delimiter
    assert job.columns == ["Name", "Email", "Company"]
    assert job.mapping == ["full_name", "email", "organization"]


def test_semicolon_file_with_commas_in_values(new_job):
    job = new_job("Name;Email;Value\nAda, Countess;ada@example.com;1,500.00\nAlan;alan@example.com;2,000\n")
    assert job.delimiter == ";"


def test_latin1_file_imports_its_accents(run_import):
    from leadflow.leads.models import Lead

    run_import("Vorname;Nachname;E-Mail\nJürgen;Weiß;juergen@example.com\n".encode("cp1252"))
    lead = db.session.scalar(db.select(Lead))
    assert (lead.first_name, lead.last_name) == ("Jürgen", "Weiß")


def test_user_can_override_encoding_and_delimiter(new_job, importer):
    job = new_job("a|b\n1|2\n".encode("utf-8"))
    services.update_file_settings(importer, job, encoding="latin-1", delimiter="\t", has_header=False)
    assert job.encoding == "latin-1" and job.delimiter == "\t"
    assert job.columns == ["Column 1"]


def test_utf8_cannot_be_chosen_for_a_file_that_is_not_utf8(new_job, importer):
    job = new_job("Name,Email\nJosé,jose@example.com\n".encode("cp1252"))
    with pytest.raises(ValidationFailed) as error:
        services.update_file_settings(importer, job, encoding="utf-8", delimiter=",", has_header=True)
    assert "not valid UTF-8" in str(error.value)


def test_without_header_the_columns_are_numbered(new_job, importer):
    job = new_job("Ada,ada@example.com\nAlan,alan@example.com\n")
    services.update_file_settings(importer, job, encoding="utf-8", delimiter=",", has_header=False)
    assert job.columns == ["Column 1", "Column 2"]


def test_empty_file_is_refused_with_a_message(new_job):
    with pytest.raises(ValidationFailed) as error:
        new_job(b"")
    assert error.value.errors == {"file": ["The file is empty."]}


def test_too_large_file_is_refused_and_not_kept(app, new_job, instance_folder):
    app.config["IMPORT_MAX_BYTES"] = 100
    with pytest.raises(ValidationFailed) as error:
        new_job("Name,Email\n" + "Ada,ada@example.com\n" * 20)
    assert "larger than" in error.value.errors["file"][0]
    assert not list((instance_folder / "imports").iterdir())


@pytest.mark.parametrize("content", [
    "Name,Email\nJosé Müller,jose@example.com\n".encode("utf-8"),
    b"\xef\xbb\xbfName,Email\r\nAda,ada@example.com\r\n",
    "Name;Email\n“Zoë” Œuvre – €,zoe@example.com\n".encode("cp1252"),
    b"Name,Email\n\x8d\x81Ana,ana@example.com\n",  # bytes only Latin-1 has
    b"Name\tEmail\x0c\nAda\tada@example.com\n",  # tabs and a stray form feed
])
def test_text_files_in_every_encoding_we_read_are_not_taken_for_binary(new_job, content):
    assert new_job(content).columns[0] == "Name"
