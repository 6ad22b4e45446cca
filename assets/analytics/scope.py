"""Which tenants a warehouse run covers: every tenant, or those the run's `aiops/tenants`
tag names (comma-separated). An operator who fixed one tenant's data re-runs its days
with the tag, and no other tenant's files or rollup rows are rewritten."""

from collections.abc import Sequence

TENANTS_TAG = "aiops/tenants"


class UnknownTenantsError(ValueError):
    pass


def chosen_tenants(known: Sequence[str], tag: str | None) -> list[str]:
    """`known` when the tag is absent or blank, else the tenants it names (sorted)."""
    if tag is None or not tag.strip():
        return list(known)
    wanted = sorted({name.strip() for name in tag.split(",") if name.strip()})
    if not wanted:
        raise UnknownTenantsError(
            f"the run tag {TENANTS_TAG} is {tag!r}, which names no tenant; give tenant ids "
            "separated by commas, or remove the tag to cover every tenant"
        )
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise UnknownTenantsError(
            f"the run tag {TENANTS_TAG} names tenants that do not exist: "
            f"{', '.join(unknown)}; give existing tenant ids separated by commas, or remove "
            "the tag to cover every tenant"
        )
    return wanted
