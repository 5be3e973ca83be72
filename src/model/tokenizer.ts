// tokenizer.json through @huggingface/tokenizers, exact both ways (no added spaces, no clean-up).
import { createHash } from 'node:crypto';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenizerLike } from '../engine/types';

export interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
}

export class CodeTokenizer implements TokenizerLike {
  private readonly tokenizer: Tokenizer;
  readonly vocabSize: number;
  readonly addedTokens: AddedTokenInfo[];
  private readonly specialPattern?: RegExp;

  /** @param json the parsed tokenizer.json */
  constructor(json: unknown) {
    const j = json as { added_tokens?: { id: number; content: string; special?: boolean }[]; model?: unknown };
    if (typeof j !== 'object' || j === null || typeof j.model !== 'object') {
      throw new Error('not a Hugging Face tokenizer.json (no "model" object)');
    }
    this.tokenizer = new Tokenizer(json as object, {});
    this.addedTokens = (j.added_tokens ?? []).map((t) => ({ id: t.id, content: t.content, special: t.special ?? false }));
    let maxId = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const specials = this.addedTokens.filter((t) => t.content.length > 1).map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialPattern = specials.length ? new RegExp(`(${specials.join('|')})`) : undefined;
  }

  /** Text that spells a special token (a file that contains "<|mask|>") is encoded as plain text, never as the special id. */
  encode(text: string): number[] {
    if (!text) return [];
    if (!this.specialPattern || !this.specialPattern.test(text)) return this.encodePlain(text);
    const ids: number[] = [];
    for (const [i, piece] of text.split(this.specialPattern).entries()) {
      if (i % 2 === 0) ids.push(...this.encodePlain(piece));
      else ids.push(...this.encodePlain(piece.slice(0, 1)), ...this.encodePlain(piece.slice(1)));
    }
    return ids;
  }

  private encodePlain(text: string): number[] {
    return text ? this.tokenizer.encode(text, { add_special_tokens: false }).ids : [];
  }

  decode(ids: readonly number[]): string {
    return ids.length ? this.tokenizer.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : '';
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * The vocabulary digest (docs/model-contract.md, "Manifest", vocabDigest; the converter writes it with this same
   * method): sha256 over every id from 0 to vocabSize − 1 of its token's UTF-8 bytes, each preceded by their length
   * as 4 big-endian bytes (an id without a token: length 0).
   */
  vocabDigest(): string {
    const hash = createHash('sha256');
    const length = Buffer.alloc(4);
    for (let id = 0; id < this.vocabSize; id++) {
      const bytes = Buffer.from(this.tokenizer.id_to_token(id) ?? '', 'utf8');
      length.writeUInt32BE(bytes.length);
      hash.update(length);
      hash.update(bytes);
    }
    return `sha256:${hash.digest('hex')}`;
  }
}
