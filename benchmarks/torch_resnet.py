"""The zoo's CIFAR ResNet in PyTorch, for side-by-side timing: option-A shortcuts, per-channel
PReLU (slope 0.25) or ReLU, He-initialised convolutions, BatchNorm with torchvision's settings."""

import torch
from torch import nn
from torch.nn import functional


def activation(kind, channels):
    return nn.PReLU(channels, init=0.25) if kind == "prelu" else nn.ReLU(inplace=True)


class ZeroPadShortcut(nn.Module):
    """Option A (He et al. 2016): subsample, then zero-pad the channels half before, half after."""

    def __init__(self, channels, strides):
        super().__init__()
        self.channels, self.strides = channels, strides

    def forward(self, x):
        x = x[:, :, :: self.strides, :: self.strides]
        extra = self.channels - x.shape[1]
        return functional.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, strides, kind):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, strides, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = activation(kind, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act2 = activation(kind, channels)
        self.shortcut = (nn.Identity() if strides == 1 and in_channels == channels
                         else ZeroPadShortcut(channels, strides))

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act2(y + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth=20, kind="prelu", width=16, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  activation(kind, width))
        blocks, in_channels = [], width
        for stage, channels in enumerate((width, 2 * width, 4 * width)):
            for block in range(n):
                strides = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_channels, channels, strides, kind))
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.25 if kind == "prelu" else 0.0)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.classifier(torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1))


def parameter_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
