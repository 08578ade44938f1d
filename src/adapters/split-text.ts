/**
 * A reply's text cut into the pieces a platform takes in one message
 * (Telegram's 4,096 characters, Discord's 2,000): at a line break in the
 * second half of a piece where there is one, else at the limit (never
 * inside a character that takes two UTF-16 units).
 */

/** Splits `text` into pieces of at most `max` characters (at line breaks where it can). */
export function splitText(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = rest.lastIndexOf("\n", max);
    let at = cut > max / 2 ? cut : max;
    // never between the two halves of a surrogate pair (an emoji)
    if (at === max && /[\uD800-\uDBFF]/.test(rest[at - 1]!)) at--;
    out.push(rest.slice(0, at));
    rest = rest.slice(at).replace(/^\n/, "");
  }
  out.push(rest);
  return out;
}
