// A skill is a module whose default export has run(input, ctx): input is already checked
// against skill.json's "input" schema, and what run returns is checked against "output".
// It runs in the sandbox: no network, a read-only system, ctx.workspace (/work) to write in.
// console.log goes to stderr (shown when the skill fails); throw to fail with a message.
export default {
  async run({ name }, ctx) {
    return { greeting: `Hello, ${name}! (from ${ctx.workspace})` };
  },
};
