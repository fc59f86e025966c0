"""Demo workspace (being built)."""

DEMO_LOGIN = ("admin@example.com", "demo-pipeline-2024!")


def seed_demo(lead_count: int = 200) -> str:
    from leadflow.accounts.services import create_user
    from leadflow.pipeline.services import ensure_default_pipeline

    ensure_default_pipeline()
    create_user(email=DEMO_LOGIN[0], password=DEMO_LOGIN[1], role="admin", name="Demo Admin")
    return "Seeded."
