"""What every domain shares: the generator contract and envelope (base), geography, sampling helpers."""
