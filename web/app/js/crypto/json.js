// JSON parsing for the crypto formats: like JSON.parse, but duplicate object members are an
// error (serde's derive refuses them; JSON.parse would silently keep the last one).

/** Parses JSON text, refusing duplicate members at any depth. Throws SyntaxError. */
export function parseStrict(text) {
  const value = JSON.parse(text);
  checkDuplicates(text);
  return value;
}

function checkDuplicates(text) {
  const stack = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1));
        if (top.has(key)) throw new SyntaxError(`duplicate member ${key}`);
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
}

/** Whether `value` is a plain object whose members are exactly `required` plus some of `optional`. */
export function hasMembers(value, required, optional = []) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  for (const key of required) if (!keys.includes(key)) return false;
  return keys.every((k) => required.includes(k) || optional.includes(k));
}
