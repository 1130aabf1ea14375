"""Right-padded supervised batches for the lab's warm-ups: the loss is on each row's response (and its EOS) only."""

from __future__ import annotations


def right_padded_batch(seqs: list[list[int]], starts: list[int], pad_id: int):
    """(input_ids, attention_mask, labels), each [len(seqs), longest], from token rows whose response begins at
    ``starts[i]``: padding is ``pad_id`` with attention 0, and labels are -100 (ignored) outside the responses."""
    import torch

    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, start) in enumerate(zip(seqs, starts, strict=True)):
        input_ids[i, : len(s)] = torch.tensor(s)
        labels[i, start : len(s)] = torch.tensor(s[start:])
        attention[i, : len(s)] = 1
    return input_ids, attention, labels
