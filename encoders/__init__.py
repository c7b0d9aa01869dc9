"""Audio encoder wrappers with the X-ARES contract.

Every encoder is a ``torch.nn.Module`` with ``sampling_rate`` (Hz), ``output_dim`` (D) and
``hop_size_in_ms``; ``forward(audio[B, T] float32)`` returns ``[B, T', D]``.
"""
