"""The EU criticality method's supply-risk formulas, used to cross-check critmon's score.

The EU 2017/2023 methodology (HHI_WGI,t concentration, import reliance, end-of-life recycling
input rate, substitution) is not part of the live score; the tests compare our indicators and
the USGS-style score with the EU's published results through these formulas.
"""

from __future__ import annotations

from collections.abc import Mapping


def eu_hhi_wgi(shares: Mapping[str, float], wgi_scaled: Mapping[str, float],
               trade: Mapping[str, float] | None = None) -> float:
    """The EU CRM concentration term HHI_WGI,t = sum(s^2 * WGI_scaled * t) over countries.

    ``shares`` are fractions, ``wgi_scaled`` the WGI on the EU's 0 (best) to 10 scale (10 * g),
    ``trade`` the trade parameter t (1 where not listed).
    """
    trade = trade or {}
    return sum(s * s * wgi_scaled[c] * trade.get(c, 1.0) for c, s in shares.items())


def eu_supply_risk(hhi_wgi_gs: float | None, hhi_wgi_eu: float | None, *,
                   import_reliance: float, eol_rir: float, substitution: float) -> float:
    """EU CRM 2017 method: SR = [HHI_GS * IR/2 + HHI_EU * (1 - IR/2)] * (1 - EoL_RIR) * SI_SR.

    ``import_reliance`` and ``eol_rir`` are fractions. With only one sourcing term (the EU's
    "GSonly" and "EUonly" cases) that term alone is used. Critical when SR >= 1 (and EI >= 2.8).
    """
    if hhi_wgi_gs is None and hhi_wgi_eu is None:
        raise ValueError("need at least one of hhi_wgi_gs and hhi_wgi_eu")
    if hhi_wgi_eu is None:
        concentration = hhi_wgi_gs or 0.0
    elif hhi_wgi_gs is None:
        concentration = hhi_wgi_eu
    else:
        half = import_reliance / 2.0
        concentration = hhi_wgi_gs * half + hhi_wgi_eu * (1.0 - half)
    return concentration * (1.0 - eol_rir) * substitution


def eu_bottleneck(sr_extraction: float | None, sr_processing: float | None) -> tuple[str, float]:
    """The EU's reported SR: that of the riskier of the extraction and processing stages."""
    stages = [(value, name) for name, value in (("Extraction", sr_extraction),
                                                 ("Processing", sr_processing))
              if value is not None]
    if not stages:
        raise ValueError("need the supply risk of at least one stage")
    value, name = max(stages)
    return name, value
