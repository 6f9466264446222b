"""The public names of char_noise's rules v2 (`attacks.charnoise`, section "rules v2", where
the rules and their reasons are described), without their `v2_` prefix: what the tests and
`benchmarks/char_noise_v2.py` call.  It lives in `attacks.charnoise` itself because v2 reuses
v1's tables and generators and `CharNoise` dispatches on `rules`: two modules would import each
other.
"""

from attacks.charnoise import (  # noqa: F401
    HOMOGLYPHS_PER_ITEM, VERSION_V2 as VERSION, OP_WEIGHTS_V2 as OP_WEIGHTS,
    arabic_well_formed, devanagari_well_formed, is_acronym, pieces, thai_well_formed,
    v2_available_operations as available_operations, v2_is_eligible as is_eligible,
    v2_noise_pair_edits as noise_pair_edits, v2_noise_word as noise_word,
    v2_operation_candidates as operation_candidates, v2_params as params, v2_units as units,
)
