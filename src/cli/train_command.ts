import { runTraining, type TrainRequest } from '../coordinator/train.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';

export interface TrainFlags extends RuntimeFlags {
  phase: string; dataDir: string; modelDir: string; modelName: string; arch?: string; inputSize?: number; nEpoch: number;
  trainBatch: number; microBatch: number; testBatch: number; lr: number; seed: number; pretrained?: string;
  attentionWeight: number; reasonability?: boolean; selectOn: 'val' | 'test'; cam: 'closed' | 'autodiff';
  originalFlipBug?: boolean; freezeBn?: boolean; resume?: boolean; maxRestarts: number; checkpointEvery: number;
  metricsPort?: number; metricsHost: string; metricsLinger: number; json?: boolean;
}

export async function trainConfigFrom(f: TrainFlags): Promise<TrainRequest> {
  return {
    ...(await runtimeFrom(f)),
    phase: f.phase === '2' ? 2 : 1,
    dataDir: f.dataDir,
    modelDir: f.modelDir,
    modelName: f.modelName,
    arch: f.arch,
    inputSize: f.inputSize,
    nEpoch: f.nEpoch,
    trainBatch: f.trainBatch,
    microBatch: f.microBatch,
    testBatch: f.testBatch,
    lr: f.lr,
    seed: f.seed,
    pretrained: f.pretrained ?? null,
    attentionWeight: f.attentionWeight,
    reasonability: Boolean(f.reasonability),
    selectOn: f.selectOn,
    camMode: f.cam,
    originalFlipBug: Boolean(f.originalFlipBug),
    freezeBn: Boolean(f.freezeBn),
    resume: Boolean(f.resume),
    maxRestarts: f.maxRestarts,
    checkpointEvery: f.checkpointEvery,
    metricsPort: f.metricsPort ?? null,
    metricsHost: f.metricsHost,
    metricsLingerS: f.metricsLinger,
    checkEvery: 50,
  };
}

export async function trainCommand(flags: TrainFlags): Promise<void> {
  const summary = await runTraining(await trainConfigFrom(flags));
  if (flags.json) printJsonLine({ command: 'train', ...summary });
}
