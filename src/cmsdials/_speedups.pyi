"""Types of the optional compiled decoder (``_speedups.c``)."""

def scan_page(
    body: bytes,
    dims: int,
    ints: tuple[str, ...],
    floats: tuple[str, ...],
    strings: tuple[str, ...],
    /,
) -> (
    tuple[
        str | None,
        str | None,
        tuple[bytearray, ...],
        tuple[bytearray, ...],
        tuple[list[str], ...],
        bytearray,
    ]
    | None
): ...
