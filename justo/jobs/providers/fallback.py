"""Try providers in order: Judit first, Codilo when Judit cannot answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from justo.jobs.lawsuit import InvalidCnjError, Lawsuit, LawsuitProvider, ProviderError

log = logging.getLogger(__name__)


class ProviderChain:
    """A ``LawsuitProvider`` that asks each provider in turn until one answers.

    Any ``ProviderError`` moves on to the next provider (transient failures, rejected
    credentials, not found, unexpected answers) except ``InvalidCnjError``: a bad number is
    bad everywhere, so it is raised at once. When every provider fails, the last error is
    raised (chained to the one before). ``Lawsuit.provider`` tells which one answered.

    Args:
        providers: in order of preference; at least one.
    """

    def __init__(self, providers: Sequence[LawsuitProvider]) -> None:
        if not providers:
            raise ValueError("ProviderChain needs at least one provider")
        self.providers = tuple(providers)
        self.name = "+".join(p.name for p in self.providers)

    async def fetch(self, cnj: str) -> Lawsuit:
        """The lawsuit from the first provider able to return it.

        Raises:
            InvalidCnjError: from the first provider that says so.
            ProviderError: the last provider's error when none answered.
        """
        previous: ProviderError | None = None
        for index, provider in enumerate(self.providers):
            try:
                return await provider.fetch(cnj)
            except InvalidCnjError:
                raise
            except ProviderError as exc:
                if index == len(self.providers) - 1:
                    raise exc from previous
                log.warning(
                    "provider %s failed (%s: %s); trying %s",
                    provider.name,
                    type(exc).__name__,
                    exc,
                    self.providers[index + 1].name,
                )
                previous = exc
        raise AssertionError("unreachable")
