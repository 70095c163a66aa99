/* chat_template.h — chat prompts through a checkpoint's chat template: the subset of Jinja that
 * ChatML-style templates (SmolLM2, Qwen2, ...) use, rendered as Transformers' apply_chat_template
 * renders them (trim_blocks and lstrip_blocks on).
 *
 * The subset:
 *   {{ expr }}, {% if %}/{% elif %}/{% else %}/{% endif %}, {% for x in expr %} (also
 *   `for a, b in`, `{% else %}`, loop.index, loop.index0, loop.first, loop.last, loop.length,
 *   loop.revindex, loop.revindex0)/{% endfor %}, {% set name = expr %}, {# comments #},
 *   `-` whitespace control on either side of a tag; {% generation %} blocks render their body.
 *   Expressions: string (with \n \t \\ \' \" escapes), integer, float, true/false/none literals,
 *   lists, dicts; names, a.b, a[b], a[i:j]; not, and, or, == != < > <= >=, in, not in, + - * / // %
 *   ~, unary -, `a if c else b`; filters trim, length, upper, lower, string, tojson (strings, numbers,
 *   booleans, lists and dicts of them), default(v); tests defined, undefined, none, string, number,
 *   mapping, sequence (with `is not`); calls raise_exception(msg) and the string methods strip,
 *   lstrip, rstrip, upper, lower, startswith, endswith, title; dict.items(), dict.get(k[, d]).
 *   Undefined values are falsy, print as "", have no attributes (a.b is undefined) and length 0.
 * Anything else is KILN_ERR_UNSUPPORTED naming the construct and its line.
 */
#ifndef KILN_PL_CHAT_TEMPLATE_H
#define KILN_PL_CHAT_TEMPLATE_H

#include "common/common.h"

// Renders `source` with `messages` (role/content pairs), add_generation_prompt, bos_token and
// eos_token (NULL: undefined) into a new malloc'd string (*text_out, free()).
// Returns KILN_OK; KILN_ERR_FORMAT (a syntax error: "chat template: line 3: ..."); KILN_ERR_UNSUPPORTED
// (a construct outside the subset); KILN_ERR_INVALID_ARG (NULL argument, or the template called
// raise_exception: its message); KILN_ERR_OUT_OF_MEMORY.
kiln_status pl_chat_render(const char *source, const kiln_chat_message *messages, size_t n_messages, bool add_generation_prompt,
                           const char *bos_token, const char *eos_token, char **text_out);

#endif  // KILN_PL_CHAT_TEMPLATE_H
