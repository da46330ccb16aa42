import { z } from "zod";

/** Output of the five analysis stages: prose the final stage reads. */
export const stageTextSchema = z
  .string()
  .trim()
  .min(40, "answer is too short to be an analysis (under 40 characters)");

/** final_decision's structured answer; prices must agree with the action's direction. */
export const finalDecisionSchema = z
  .object({
    action: z.enum(["BUY", "SELL", "HOLD"]),
    confidence: z.number().min(0).max(1),
    entry: z.number().positive(),
    target: z.number().positive(),
    stop_loss: z.number().positive(),
    rationale: z.string().trim().min(1),
  })
  .superRefine((d, ctx) => {
    if (d.action === "BUY" && !(d.target > d.entry && d.entry > d.stop_loss)) {
      ctx.addIssue({ code: "custom", message: "BUY needs target > entry > stop_loss" });
    }
    if (d.action === "SELL" && !(d.target < d.entry && d.entry < d.stop_loss)) {
      ctx.addIssue({ code: "custom", message: "SELL needs target < entry < stop_loss" });
    }
  });

export type FinalDecision = z.infer<typeof finalDecisionSchema>;

export class OutputValidationError extends Error {
  override name = "OutputValidationError";
}

/** Parses the model's JSON answer, tolerating a ```json fence around it. */
export function parseFinalDecision(text: string): FinalDecision {
  const unfenced = text
    .trim()
    .replace(/^```(?:json)?\s*/i, "")
    .replace(/\s*```$/, "");
  let value: unknown;
  try {
    value = JSON.parse(unfenced);
  } catch {
    throw new OutputValidationError(`final_decision is not valid JSON: ${unfenced.slice(0, 80)}`);
  }
  const parsed = finalDecisionSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new OutputValidationError(`final_decision does not match its schema: ${where}${issue?.message}`);
  }
  return parsed.data;
}

export function parseStageText(text: string): string {
  const parsed = stageTextSchema.safeParse(text);
  if (!parsed.success) throw new OutputValidationError(parsed.error.issues[0]?.message ?? "invalid answer");
  return parsed.data;
}
