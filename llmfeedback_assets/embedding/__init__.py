"""Text embeddings shared by the whole graph: one encoder code path (`encoder`) and one store of vectors keyed
by (backbone, input hash) in the warehouse (`store`). Curation, both frozen reward models and best-of-n
reranking read and fill it, so each input is embedded once per backbone across steps and runs.

Nothing here imports torch or transformers until an encoder is built.
"""

from .encoder import Encoder, backbone_for, load_encoder, normalize, pair_hash, text_hash
from .store import EmbeddingStore, StoreStats, embed_pairs, embed_texts

__all__ = ["EmbeddingStore", "Encoder", "StoreStats", "backbone_for", "embed_pairs", "embed_texts",
           "load_encoder", "normalize", "pair_hash", "text_hash"]
