"""English-to-Basque translation of training and benchmark data by two-shot prompting of an LLM.

``python -m lightning_mllm.translate`` is the entry point. The pieces, one concept per file:
    segments     the tagged text the translator sees, rendered from and parsed back into segments
    examples     the system prompt and the two worked examples of every item kind
    prompts      the chat conversation sent to the translator for one item
    validation   the checks every translation must pass (structure, placeholders, language)
    records      reading and checking input records, building output records
    item_fields  which fields of each input format are translated, and where they go back
    engines      the transformers and vLLM back ends behind one ``generate`` call
    journal      the append-only output and rejects files that make a run resumable
    runner       batching, retries, rejects and progress
"""
