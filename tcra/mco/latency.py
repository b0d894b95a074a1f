"""Round-trip latency from sites to user areas: measured when the inventory has it, otherwise
estimated from coordinates.

Estimate (documented in docs/mco.md): great-circle distance d, a fibre route 1.5 times longer
than the straight line, light at 200 km/ms in glass, both ways; plus 0.25 ms per router hop,
with 2 hops at the site and one more per 400 km of distance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0
ROUTE_FACTOR = 1.5
FIBRE_KM_PER_MS = 200.0
HOP_MS = 0.25
BASE_HOPS = 2
KM_PER_HOP = 400.0

Array = npt.NDArray[np.float64]


def great_circle_km(lat1: Array, lon1: Array, lat2: Array, lon2: Array) -> Array:
    """Central angle between unit vectors; inputs broadcast against each other (degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dot = (np.sin(p1) * np.sin(p2)
           + np.cos(p1) * np.cos(p2) * np.cos(np.radians(lon2 - lon1)))
    result: Array = EARTH_RADIUS_KM * np.arccos(np.clip(dot, -1.0, 1.0))
    return result


def estimate_rtt_ms(distance_km: Array) -> Array:
    hops = np.floor(distance_km / KM_PER_HOP)
    hops += BASE_HOPS
    hops *= HOP_MS
    result: Array = distance_km * (2 * ROUTE_FACTOR / FIBRE_KM_PER_MS)
    result += hops
    return result


def matrix(site_lat: Array, site_lon: Array, area_lat: Array, area_lon: Array,
           measured: Array | None = None) -> Array:
    """Sites x areas RTT in ms; finite entries of `measured` (same shape) win over estimates."""
    # float32 halves the memory of a 10,000 x 1,000 matrix; a microsecond is plenty precise.
    cosine = (_unit(site_lat, site_lon) @ _unit(area_lat, area_lon).T).astype(np.float32)
    distance = np.arccos(np.clip(cosine, -1, 1, out=cosine), out=cosine)
    distance *= EARTH_RADIUS_KM
    estimate = estimate_rtt_ms(distance)
    if measured is None:
        return estimate
    result: Array = np.where(np.isfinite(measured), measured, estimate)
    return result


def _unit(lat: Array, lon: Array) -> Array:
    """Points on the unit sphere, so all pairwise angles come from one matrix product."""
    p, q = np.radians(lat), np.radians(lon)
    result: Array = np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=-1)
    return result
