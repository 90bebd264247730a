// Microphone capture: Float32 frames at the AudioContext's rate -> PCM16 mono at targetRate,
// posted to the page in chunks of chunkSamples (an ArrayBuffer each).
//
// Downsampling averages the input samples that fall in each output sample's span (a box
// filter): cheap, and enough against aliasing for speech at 16 kHz.
class PcmCaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate = 16000, chunkSamples = 512 } = options.processorOptions || {};
    this.step = sampleRate / targetRate; // input samples per output sample (>= 1)
    this.chunkSamples = chunkSamples;
    this.out = new Int16Array(chunkSamples);
    this.filled = 0;
    this.sum = 0;
    this.count = 0;
    this.phase = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.phase += 1;
      if (this.phase < this.step) continue;
      this.phase -= this.step;
      const v = Math.max(-1, Math.min(1, this.sum / this.count));
      this.sum = 0;
      this.count = 0;
      this.out[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === this.chunkSamples) {
        this.port.postMessage(this.out.buffer, [this.out.buffer]);
        this.out = new Int16Array(this.chunkSamples);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCaptureProcessor);
