from tests.imports.conftest import importer, instance_folder, new_job  # noqa: F401  (import jobs made in the test)
