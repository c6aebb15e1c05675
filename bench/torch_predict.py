"""PyTorch predictions of a published net on CIFAR-10 records, to compare with `advexp predict --json`.

  /usr/bin/python3 bench/torch_predict.py MODEL.safetensors DATA.bin OFFSET LIMIT ADVEXP_JSON
prints PyTorch's accuracy, advexp's accuracy (from its --json), and how many predictions differ.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import load_reference, read_cifar_records  # noqa: E402

model_path, data_path, offset, limit, advexp_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
model = load_reference(model_path)[0].eval()
x, y = read_cifar_records(data_path, offset, limit)
with torch.no_grad():
    pred = torch.cat([model(x[i:i + 250]).argmax(1) for i in range(0, limit, 250)])
ours = json.load(open(advexp_json))
diff = sum(int(a != b) for a, b in zip(pred.tolist(), ours['predictions']))
print(json.dumps({'model': os.path.basename(model_path), 'n': limit,
                  'pytorch_accuracy': (pred == y).float().mean().item(), 'advexp_accuracy': ours['accuracy'],
                  'differing_predictions': diff}))
