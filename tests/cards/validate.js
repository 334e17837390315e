// Reads an Adaptive Card (JSON) on standard input, parses it with Microsoft's Adaptive Cards library at version 1.5
// and prints {version, actions, errors}: every parse event and validation event the library reports.
const AC = require("adaptivecards/dist/adaptivecards.js");

const input = require("fs").readFileSync(0, "utf8");
const json = JSON.parse(input);
const card = new AC.AdaptiveCard();
const context = new AC.SerializationContext(AC.Versions.v1_5);
card.parse(json, context);
const errors = [];
for (let i = 0; i < context.eventCount; i++) {
  const e = context.getEventAt(i);
  errors.push({ phase: e.phase, event: e.event, message: e.message });
}
const validation = card.validateProperties();
for (const e of validation.validationEvents) {
  errors.push({ phase: e.phase, event: e.event, message: e.message });
}
console.log(JSON.stringify({ version: card.version.toString(), actions: card.getActionCount(), errors }));
